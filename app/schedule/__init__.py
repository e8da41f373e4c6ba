"""Scheduled syncs: each school's optional nightly pupils sync, its summer pause, and the scheduler tick.

:mod:`app.schedule.timing` decides *when* (pure, the clock is an argument); :mod:`app.schedule.service`
creates the jobs (the worker's cron calls :func:`app.schedule.service.tick` every minute).
"""
