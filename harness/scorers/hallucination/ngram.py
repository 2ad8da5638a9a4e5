"""SelfCheckGPT's n-gram variant: an n-gram model fitted to the samples and the response.

Manakul et al. (2023), section 5.4: fit an n-gram model on the sampled responses (and the
main response itself, which smooths it: every token scored has been seen), then score each
sentence of the main response by the negative log-probability of its tokens: the average
(`avg`) or the largest (`max`, the rarest token; the paper's better variant). Tokens are
lower-cased words and punctuation (`sentences.word_tokens`); with n > 1 each sentence is
padded with n - 1 start symbols. Add-k smoothing with k = 0 by default, as the paper's code.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from harness.scorers.hallucination.sentences import sentences, word_tokens

START = "<s>"


class NgramModel:
    """Counts of n-grams over sentences of the texts added; probabilities with add-k."""

    def __init__(self, n: int = 1, k: float = 0.0) -> None:
        self.n, self.k = n, k
        self.grams: Counter[tuple[str, ...]] = Counter()
        self.contexts: Counter[tuple[str, ...]] = Counter()
        self.vocabulary: set[str] = set()
        self.tokens = 0

    def add(self, text: str) -> None:
        """Count the n-grams of every sentence of `text`, split as the scored ones are
        (so an n-gram across a joined fragment, ". paris" in "1. Paris ...", is counted)."""
        for sentence in sentences(text):
            tokens = word_tokens(sentence)
            self.vocabulary.update(tokens)
            self.tokens += len(tokens)
            padded = [START] * (self.n - 1) + tokens
            for end in range(self.n - 1, len(padded)):
                gram = tuple(padded[end - self.n + 1 : end + 1])
                self.grams[gram] += 1
                self.contexts[gram[:-1]] += 1

    def logprob(self, gram: tuple[str, ...]) -> float:
        """log P(last token | the tokens before it), add-k smoothed over the vocabulary + unk."""
        size = len(self.vocabulary) + 1
        total = self.tokens if self.n == 1 else self.contexts[gram[:-1]]
        numerator = self.grams[gram] + self.k
        denominator = total + self.k * size
        if numerator <= 0 or denominator <= 0:
            return -math.inf
        return math.log(numerator / denominator)

    def sentence(self, sentence: str) -> list[float]:
        """Negative log-probability of each token of `sentence`."""
        padded = [START] * (self.n - 1) + word_tokens(sentence)
        return [
            -self.logprob(tuple(padded[end - self.n + 1 : end + 1]))
            for end in range(self.n - 1, len(padded))
        ]


@dataclass(slots=True)
class NgramScores:
    """Per sentence: average and maximum token negative log-probability; and the passage's."""

    avg: list[float]
    max: list[float]
    passage_avg: float
    passage_avg_max: float


def ngram_scores(
    main: list[str], response: str, samples: list[str], n: int, k: float
) -> NgramScores:
    """Score the main response's sentences with a model fitted to the samples + response."""
    model = NgramModel(n, k)
    model.add(response)
    for sample in samples:
        model.add(sample)
    per_sentence = [model.sentence(s) for s in main]
    every = [x for values in per_sentence for x in values]
    avg = [sum(v) / len(v) for v in per_sentence]
    top = [max(v) for v in per_sentence]
    return NgramScores(avg, top, sum(every) / len(every), sum(top) / len(top))


__all__ = ["NgramModel", "NgramScores", "ngram_scores"]
