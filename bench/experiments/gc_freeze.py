"""Loaded after addons/main.py: gc.freeze() once started, thresholds unchanged."""

import gc


class GcFreeze:
    def running(self):
        gc.collect()
        gc.freeze()


addons = [GcFreeze()]
