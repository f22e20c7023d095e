"""The prober tests' planted caches and CPU settings, shared with the orchestration tests."""

from tests.probes.conftest import cpu_trainer, linear_cache, one_torch_thread, sparse_cache  # noqa: F401
