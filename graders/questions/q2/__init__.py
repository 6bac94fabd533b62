"""Q2: four 3x3 filters, applied with Keras and with OpenCV."""
from graders.questions import Question

QUESTION = Question(
    name="q2",
    title="Four 3x3 filters, two ways",
    points=25,
    exports=("kernel", "filter_keras", "filter_cv2"),
    needs_keras=False,  # the oracle is float64 NumPy
    keras_in_worker=True,  # filter_keras applies a Keras Conv2D
    cost=3,
)
