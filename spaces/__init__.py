"""Search spaces as plain Python modules: each ``spaces/<name>.py`` exposes ``make_space(**scale)``.

Look them up by name with :func:`graphnas.get_space`.
"""
