"""dlpipe's benchmarks (see README.md); not part of the test suite."""
