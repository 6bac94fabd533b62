"""Q3: the Keras Tuner hypermodel, its Hyperband tuner and the best values found on CIFAR-10."""
from graders.questions import Question

QUESTION = Question(
    name="q3",
    title="Keras Tuner, Hyperband, CIFAR-10",
    points=30,
    exports=("build_model", "make_tuner", "BEST_HPS"),
    needs_keras=True,  # keras-tuner's own HyperParameters and Hyperband oracle
    keras_in_worker=True,  # build_model returns a Keras model, make_tuner a Hyperband tuner
    cost=6,
)
