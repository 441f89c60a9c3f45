"""Command-line interface, experiment scripts and benchmarks."""
