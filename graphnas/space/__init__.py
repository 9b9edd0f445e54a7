"""Spaces and architectures: what is searched, as graphs (first stop of the data flow).

* :mod:`.parts` -- the building blocks a space is written in: nodes, stem/head, cells, choice edges, templates;
* :mod:`.searchspace` -- :class:`SearchSpace`: the DAG of nodes and choice edges, sampling, mutation,
  crossover, enumeration, subspaces, JSON, fingerprints;
* :mod:`.architecture` -- :class:`Architecture`: one operator per edge, a networkx DAG view, JSON, hash,
  choice vector, Gray code, Hamming-1 neighbours;
* :mod:`.checks` and :mod:`.indegree` -- what makes a space valid (templates, reductions, in-degree rules);
* :mod:`.liveness` -- which edges run and which nodes are read, for one architecture or a batch (one walk);
* :mod:`.encoding` -- the one mixed-radix index of choice vectors (numpy ``ravel_multi_index``), vectorised;
* :mod:`.networkx_input` -- a space or an architecture drawn in networkx;
* :mod:`.registry` -- spaces by name (the ``spaces/`` modules and registered factories), never importing a
  file a data file names.
"""

from .architecture import Architecture, gray_bits, gray_encode, gray_widths
from .registry import get_space, register_space, space_info, space_names
from .searchspace import BRANCH, STEM, Cell, ChoiceEdge, Fixed, Head, Node, SearchSpace, Stem, Template

__all__ = ["Architecture", "SearchSpace", "Node", "ChoiceEdge", "Stem", "Head", "Cell", "Fixed", "Template", "STEM",
           "BRANCH", "gray_bits", "gray_encode", "gray_widths", "get_space", "register_space", "space_info",
           "space_names"]
