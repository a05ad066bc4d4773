"""The daemon: sync cycle, scheduler, time-driven sweeps, operations endpoints."""
