"""One math thread in these tests: tiny models gain nothing from more, and on a shared, busy machine two threads
contending for two cores make each training step many times slower."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
