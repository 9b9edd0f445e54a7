"""Pictures people look at: architectures and spaces drawn with graphviz (:mod:`.dag`), matplotlib figures
(:mod:`.figures`: Pareto fronts, rank plots). Nothing is imported here, so graphviz and matplotlib load only
where a picture is drawn."""
