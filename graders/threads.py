"""How many threads the numerical libraries start, defined once: BLAS, OpenMP and TensorFlow's own pools."""

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def thread_environment(threads):
    """The variables that cap each library at `threads` threads, read when the library loads or first computes."""
    return dict.fromkeys(THREAD_VARIABLES, str(threads))


# A library's pools are threads, and a process that forks judges or workers must have none: it keeps them one-wide.
SINGLE_THREAD = thread_environment(1)
