"""`groundqa eval`: data sets (BEIR, SQuAD, question sets), metrics, runs and reports."""

from qa.evaluation.datasets import Dataset, Query, load_dataset
from qa.evaluation.report import compare, result_json, table, write_report
from qa.evaluation.runner import ModeRun, cached_knowledge_base, evaluate

__all__ = ["Dataset", "ModeRun", "Query", "cached_knowledge_base", "compare", "evaluate", "load_dataset",
           "result_json", "table", "write_report"]
