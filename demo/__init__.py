"""The demo database generator (floor 4): contract tables for Hangzhou, calibrated
on the figures in ``../shared/domain.md``.

``python -m demo [--url URL] [--days 90] [--seed N] [--scale 1.0]`` writes
them (``python -m data_access.demo`` is the same command, kept as an alias
for one release); ``python -m demo live [--url URL] [--speed N]`` keeps
writing into them as the site's system would (:mod:`demo.live`, drawing on
:mod:`demo.live_model`). :mod:`demo.build` orchestrates and :mod:`demo.load`
writes to the backends; the modules beside them each generate one kind of
data (``geography``, ``incidents``, ``crowds``, ``warnings``, ``bad_rows``;
``common`` holds what they share). The generator writes only through the
contract's schema (``data_access``): it knows no metric and no page.
"""
