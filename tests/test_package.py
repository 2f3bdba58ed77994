"""The package's start-up: what `hf-unlearn` prints before doing anything, and the bitsandbytes notice it drops."""

import logging
import subprocess
import sys

import hf_unlearn  # noqa: F401 - installs the filter under test


def test_help_prints_no_bitsandbytes_kernel_notice():
    result = subprocess.run([sys.executable, "-m", "hf_unlearn.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "unlearn" in result.stdout
    assert "gemm_4bit" not in result.stderr and "kernels" not in result.stderr


def test_only_the_missing_kernels_notice_is_dropped(caplog):
    logger = logging.getLogger("bitsandbytes.backends.cpu.ops")
    with caplog.at_level(logging.WARNING):
        logger.warning(
            "Failed to load CPU gemm_4bit_forward from kernels-community: %s. Please make sure you "
            "already `pip install kernels`",
            ModuleNotFoundError("No module named 'kernels'"),
        )
        logger.warning(
            "Failed to load CPU gemm_4bit_forward from kernels-community: %s.",
            RuntimeError("kernel version 0.3 is too old"),
        )
    assert [record.getMessage() for record in caplog.records] == [
        "Failed to load CPU gemm_4bit_forward from kernels-community: kernel version 0.3 is too old."
    ]
