"""Support for tests, benchmarks and demos: real servers on real ports
(fixtures' building blocks, fake backends speaking real wire formats)."""
