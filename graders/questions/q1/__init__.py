"""Q1: convolution dimensionality, kernel sizes, pooling."""
from graders.questions import Question

QUESTION = Question(
    name="q1",
    title="Convolution dimensionality, kernel sizes, pooling",
    points=25,
    exports=("conv_params", "conv_input_rank", "stacked_receptive_field", "pool2d", "global_pool"),
    needs_keras=True,  # parameter counts are checked against Keras's Conv1D/2D/3D
    cost=1,
)
