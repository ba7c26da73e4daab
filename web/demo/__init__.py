"""The demo, in one place: the Gangwon-Nanjing ceremony of 2020-05-29 (definition.py), what a
first start creates from it (bootstrap.py), the scripted host and signatories that drive the
public API as browsers would (scripted.py), and `ceremony demo`'s headless rehearsal
(rehearsal.py)."""
