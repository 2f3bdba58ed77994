"""The package's start-up: what `hf-unlearn` prints before doing anything, and the bitsandbytes notice it drops."""

import logging
import subprocess
import sys

import hf_unlearn  # noqa: F401 - installs the filter under test


def test_help_prints_no_bitsandbytes_kernel_notice():
    result = subprocess.run([sys.executable, "-m", "hf_unlearn.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "unlearn" in result.stdout
    assert "gemm_4bit" not in result.stderr and "kernels" not in result.stderr


def test_only_the_missing_or_untrusted_kernel_notices_are_dropped(caplog):
    logger = logging.getLogger("bitsandbytes.backends.cpu.ops")
    with caplog.at_level(logging.WARNING):
        logger.warning(
            "Failed to load CPU gemm_4bit_forward from kernels-community: %s. Please make sure you "
            "already `pip install kernels`",
            ModuleNotFoundError("No module named 'kernels'"),
        )
        logger.warning(
            "Failed to load CPU gemm_4bit_forward from kernels-community: %s. Please make sure you "
            "already `pip install kernels`",
            ValueError(
                "Kernel repository 'kernels-community/quantization-bitsandbytes' could not verify publisher trust "
                "status. Set trust_remote_code=True or add the repository ID to the trust_remote_code allowlist"
            ),
        )
        logger.warning(
            "Failed to load CPU gemm_4bit_forward from kernels-community: %s.",
            RuntimeError("kernel version 0.3 is too old"),
        )
        logging.getLogger("kernels._internals.hf_hub").warning(
            "Skipping publisher trust check for 'kernels-community/quantization-bitsandbytes' because Hugging Face "
            "Hub is in offline mode."
        )
    assert [record.getMessage() for record in caplog.records] == [
        "Failed to load CPU gemm_4bit_forward from kernels-community: kernel version 0.3 is too old."
    ]
