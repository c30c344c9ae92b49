"""Loaded after addons/main.py: move start-up objects out of the collector's sight and collect
the young generation less often."""

import gc


class GcTuned:
    def running(self):
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 50, 100)


addons = [GcTuned()]
