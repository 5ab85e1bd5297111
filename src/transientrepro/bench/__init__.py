"""Speed benchmarks (``python -m transientrepro.bench``, ``make bench``): each prints figures, none asserts."""
