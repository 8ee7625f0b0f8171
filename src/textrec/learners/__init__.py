"""Learners: one shared training loop (:mod:`~textrec.learners.loop`), batch sources
(:mod:`~textrec.learners.batches`), evaluators (:mod:`~textrec.learners.evaluators`), shared maths
(:mod:`~textrec.learners.functional`), every learner's config (:mod:`~textrec.learners.configs`),
one module per learner holding its loss and update, the ``--algo`` names
(:mod:`~textrec.learners.algorithms`), the registry :data:`~textrec.learners.registry.LEARNERS`
and the library entry point :func:`~textrec.learners.run.train_agent`. The checkpoint format is
:mod:`textrec.checkpoint`, below every layer.

The package itself imports nothing: ``textrec.learners.configs`` and
``textrec.learners.algorithms`` load without torch (``textrec train --help`` reads them); import
the rest from its module (``from textrec.learners.registry import LEARNERS``).
"""
