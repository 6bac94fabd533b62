"""Q4: output shapes and parameter counts, and the layer table."""
from graders.questions import Question

QUESTION = Question(
    name="q4",
    title="Output shapes and parameter counts",
    points=20,
    exports=(
        "conv2d_output_shape", "pool2d_output_shape", "conv2d_params",
        "locally_connected2d_params", "dense_params", "layer_table",
    ),
    needs_keras=True,  # counts are checked against Keras layers and the Keras 2 LocallyConnected2D
    cost=1,
)
