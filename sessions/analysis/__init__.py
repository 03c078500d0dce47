"""The numbers of latency: numpy and scipy only, no SQL (it takes rows or columns).

    stats         summaries of stage latencies and a streaming window
    outliers      outliers and warm-up transients, flagged and never dropped
    segments      runs of samples recorded under the same policies
    reliability   how much of a stage's spread is the sample and how much is noise
    bootstrap     bootstrap intervals of a median ratio
    rank_tests    the rank tests of a comparison, from scipy.stats
"""
