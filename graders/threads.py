"""How many threads the numerical libraries start, defined once: BLAS, OpenMP and TensorFlow's own pools."""

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def thread_environment(threads):
    """The variables that cap each library at `threads` threads, read when the library loads or first computes."""
    return dict.fromkeys(THREAD_VARIABLES, str(threads))


# What processes that fork judges or workers keep to: a library's threads do not survive a fork.
SINGLE_THREAD = thread_environment(1)
