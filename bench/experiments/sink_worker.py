"""A recorder process that reads every frame and does nothing with it (answers calls with None).
Use with recorder_sink.py: what the hand-over alone costs the proxy. It reports the jobs it
read, so that the proxy's queue depth (and so the benchmarks' drain) sees them as done."""

import argparse

from addons.worker import RecentBodies, read_jobs, write_frame

parser = argparse.ArgumentParser()
parser.add_argument("--jobs-fd", type=int)
parser.add_argument("--results-fd", type=int)
args, _ = parser.parse_known_args()
jobs = 0
recent = RecentBodies()
try:
    while True:
        for job in read_jobs(args.jobs_fd, recent):
            if isinstance(job, tuple) and job[0] == "call":
                write_frame(args.results_fd, ("result", job[1], True, None))
            elif not isinstance(job, tuple):
                jobs += 1
        write_frame(args.results_fd, ("stats", {"jobs": jobs}))
except EOFError:
    pass
