"""Local chains for the demo, the tests and the benchmarks. Never used against a live network."""
