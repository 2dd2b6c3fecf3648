"""Applications of the knowledge (paper section 4; Shen et al.): search relevance, shopping-intent
identification, session segmentation and ranking, multi-turn navigation and session-based
recommendation. Each harness takes plain tables and a :class:`cosmo.apps.knowledge.Knowledge`, trains or
scores on CPU by default, and returns a :class:`cosmo.apps.report.Section` for the `cosmo eval` report.

The package reads the catalogue's tables and the graph's lookups and imports nothing of serving or the
pipeline: the evaluate flow's steps (:mod:`cosmo.pipeline.steps`) load the inputs, and the knowledge API
serves the segmentation (:func:`cosmo.apps.segmentation.served_clusters`)."""
