"""Statistics of latencies."""


def percentile(values, q):
    """The ``q``-th percentile (0-100) with linear interpolation between the
    closest ranks (numpy's default); ``nan`` for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def mean(values):
    return sum(values) / len(values) if values else float("nan")


def ms(seconds):
    return f"{seconds * 1000:.1f}"
