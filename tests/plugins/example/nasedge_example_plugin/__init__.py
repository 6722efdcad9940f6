"""An out-of-tree nasedge plugin: a search strategy, a latency predictor and a search-space family.

nasedge calls :func:`register` (the ``nasedge.plugins`` entry point) the first time it lists a
registry. Each plugin is one module here plus one YAML: ``conf/search/hill_climb.yaml``,
``conf/predictor/power_law.yaml`` (found on Hydra's search path) and ``search_spaces/example_chain.yaml``.
Targets are import paths, so nothing below is imported until it is used.
"""


def register() -> None:
    from nasedge.predict import register_predictor
    from nasedge.predict.encodings import register_encoding
    from nasedge.search import register_strategy
    from nasedge.spaces import register_family
    from nasedge.supernet import register_supernet

    register_strategy("hill_climb", "nasedge_example_plugin.hill_climb:HillClimbStrategy")
    register_predictor("power_law", "nasedge_example_plugin.power_law:PowerLawPredictor")
    register_family("example_chain", "nasedge_example_plugin.chain:ChainSpace")
    # a chain is laid out like an OFA-MobileNetV3 network, so the OFA supernet and encoding serve it
    register_supernet("example_chain", "nasedge.supernet.ofa_mbv3:OFAMobileNetV3Supernet")
    register_encoding("example_chain", "nasedge.predict.encodings.ofa:OFAEncoding")
