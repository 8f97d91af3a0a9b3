"""How many chunks general English predicts hold a word (wordfreq), as a prior on a term's chunk count.

A small corpus cannot tell a question's content words from its function words by its own counts: in
four chunks "what" and "cornerstone" may each occur once, and get the same idf. Counting the prior as
`weight` extra chunks, each holding the word at the rate its English frequency predicts, keeps idf
meaningful in a small index while a large corpus outweighs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

PRIOR_CHUNKS = 100.0
WORD_CHARS = 6.0  # an English word and the space after it, on average


@dataclass(frozen=True)
class TermPrior:
    """General-English chunk rates for chunks of `chunk_words` words, worth `weight` chunks of evidence."""

    chunk_words: float
    weight: float = PRIOR_CHUNKS

    @classmethod
    def of_texts(cls, texts: Sequence[str], *, weight: float = PRIOR_CHUNKS) -> "TermPrior":
        """The prior for chunks as long, on average, as `texts`."""
        return cls.of_lengths([len(t) for t in texts], weight=weight)

    @classmethod
    def of_lengths(cls, lengths: Sequence[int], *, weight: float = PRIOR_CHUNKS) -> "TermPrior":
        """The prior for chunks of these lengths in characters, on average."""
        chars = sum(lengths) / max(len(lengths), 1)
        return cls(chunk_words=max(chars / WORD_CHARS, 1.0), weight=weight)

    def chunk_rate(self, word: str) -> float:
        """The share of chunks that would hold `word` at least once if they were general English."""
        from wordfreq import word_frequency

        return 1.0 - math.exp(-self.chunk_words * word_frequency(word, "en"))
