"""The answer grader's pieces, one module per concept (the entry point is :mod:`verl_mupo.scoring`).

- :mod:`~verl_mupo.grading.settings`: the grader's settings (environment variables, defaults, checks);
- :mod:`~verl_mupo.grading.boxed`: the last ``\\boxed{...}`` of a response, in linear time;
- :mod:`~verl_mupo.grading.visible`: what a reader cannot see is not read (invisible characters, phantoms,
  white text, TeX comments); colours and vulgar fractions read as their content;
- :mod:`~verl_mupo.grading.latex`: presentation removed from an answer (LaTeX spacing, text macros, Unicode);
- :mod:`~verl_mupo.grading.values`: a final answer is a value (no arithmetic left on literal numbers), restatements;
- :mod:`~verl_mupo.grading.compare`: the comparison policy as one ordered table of named rules (``TABLE``, ``decide``);
- :mod:`~verl_mupo.grading.rules`: the rules as one table, with examples (docs/grader.md's table is made from it);
- :mod:`~verl_mupo.grading.units`: the closed list of units an answer may carry;
- :mod:`~verl_mupo.grading.numeric`: plain numbers and constant expressions evaluated to a float;
- :mod:`~verl_mupo.grading.structure`: lists and hedges, tuples and intervals, ``x = value``;
- :mod:`~verl_mupo.grading.choices`: multiple-choice letters, option texts, yes/no;
- :mod:`~verl_mupo.grading.symbolic`: math-verify's equivalence (the worker's side);
- :mod:`~verl_mupo.grading.pool`: symbolic checks in worker processes, each with its own time budget.
"""
