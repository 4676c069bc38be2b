"""Runs agent_os_kernel's own performance tests for isokernel's bench and prints their results as JSON.

The tests are the functions of agent_os_kernel's scripts/perf_test.py, imported unchanged from a checkout of its
repository (argv[1]) and called with the sizes its main() uses, each `rounds` times (argv[2]). Only the printing
differs: its main() prints rounded summaries, this prints each round's operation count, duration and errors.

agent_os_kernel/__init__.py imports its LLM agent loop, which imports litellm when the package loads;
perf_test.py never calls a model, and litellm is neither packaged by Debian nor installable without PyPI, so an
empty module stands in for it when it is missing. PyYAML is needed (Debian: python3-yaml).
"""

import json
import sys
import types

repo, rounds = sys.argv[1], int(sys.argv[2])
sys.path[:0] = [f"{repo}/src", f"{repo}/scripts"]
try:
    import litellm  # noqa: F401
except ImportError:
    sys.modules["litellm"] = types.ModuleType("litellm")

import perf_test  # noqa: E402

TESTS = {
    "deny_only": lambda: perf_test.test_sequential_throughput(n_ops=2000),
    "fs_read": lambda: perf_test.test_sequential_with_provider(n_ops=500),
    "concurrent_fs_read": lambda: perf_test.test_concurrent_load(n_threads=10, ops_per_thread=100),
    "mixed": lambda: perf_test.test_mixed_stress(n_ops=1000),
    "fs_write": lambda: perf_test.test_write_throughput(n_ops=200),
}

results = {}
for name, run in TESTS.items():
    results[name] = []
    for _ in range(rounds):
        result = run()
        results[name].append({"ops": result.total_ops, "seconds": result.duration_s, "errors": result.errors})
print(json.dumps(results))
