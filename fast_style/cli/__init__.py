"""The commands: ``python scripts/<name>.py`` and the console scripts ``fast-style-<name>`` run the ``main`` of
the module of that name here. Each composes its Hydra config (inside the package) and turns a user's mistake
into one ``error:`` line with exit status 2."""
