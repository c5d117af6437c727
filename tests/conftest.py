import os

# tests never talk to W&B unless a test opts in (offline, in its own directory)
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")


import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture
def one_thread():
    """One torch and BLAS thread: on a shared 2-core CPU two threads ran Inception ~8x and these tiny networks
    several times slower (measured); opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    from threadpoolctl import threadpool_limits

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def _restore_torch_globals():
    """In-process runs switch on deterministic algorithms (``--deterministic true``) and set the thread count
    (``--threads``): undo both after every test, so no test's settings leak into the next."""
    det, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    yield
    torch.use_deterministic_algorithms(det)
    torch.set_num_threads(threads)
