"""COSMO-LM (paper 3.4): instruction data built from the annotations and the behaviours, and the
instruction-tuned student.

* :mod:`~cosmo.lm.split`: behaviour-pair keys and the held-out split by pair;
* :mod:`~cosmo.lm.templates`: the verbalisation templates of the five tasks, chosen by hash;
* :mod:`~cosmo.lm.decisions`: the decided answers of a day's labels, with their items;
* :mod:`~cosmo.lm.tasks`: one builder per task, from tables to instruction rows;
* :mod:`~cosmo.lm.instructions`: the ``lm_instructions`` partition of a day (the pipeline step);
* :mod:`~cosmo.lm.statistics`: instruction counts per task, domain and relation;
* :mod:`~cosmo.lm.encoding`: chat-formatted token ids with the prompt masked out of the loss;
* :mod:`~cosmo.lm.checkpoints`: resumable checkpoints in the store's staging folder;
* :mod:`~cosmo.lm.finetune`: LoRA or full fine-tuning with transformers and peft;
* :mod:`~cosmo.lm.student`: the saved student, its MLflow pyfunc and :func:`~cosmo.lm.student.load_student`;
* :mod:`~cosmo.lm.train`: the daily step: read, fine-tune, log to MLflow, register as challenger.

Heavy libraries (torch, transformers, peft, mlflow) are imported inside functions.
"""
