"""Applications of the knowledge (paper section 4; Shen et al.): search relevance, shopping-intent
identification, session segmentation and ranking, multi-turn navigation and session-based
recommendation. Each harness reads the catalogue, trains or scores on CPU by default, and writes its
tables and plots into the `cosmo eval` report folder."""
