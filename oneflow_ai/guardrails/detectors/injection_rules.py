"""The prompt-injection rules: each a pattern over the lower-cased text, the words a match can start with, and a
weight; `injection.InjectionDetector` combines them.

A strong rule (weight >= 0.5) is enough on its own; weak ones (a role-play opener, "developer mode", "no
restrictions") only count together. A rule is tried only where one of its start words occurs, so a text pays for the
rules its words could trigger, not for all of them.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class Rule(NamedTuple):
    name: str
    weight: float
    starts: tuple[str, ...]
    """Lower-case strings a match begins with (the pattern is tried at their occurrences only)."""
    pattern: re.Pattern[str]
    line_start: bool = False
    """Only at the start of a line (after optional '#' and spaces)."""


def _rule(name: str, weight: float, starts: str, pattern: str, line_start: bool = False) -> Rule:
    return Rule(name, weight, tuple(starts.split("|")), re.compile(pattern), line_start)


_IGNORE = (
    "ignore|ignoring|disregard|forget|skip|bypass|override|overlook|abandon|set aside|throw away|throw out|discard|"
    "ditch|drop|neglect|pay no attention to|do not follow|don't follow|stop following|no longer follow|"
    "do not obey|don't obey|stop obeying|erase|cancel|nullify|scrap|never mind|reset|wipe"
)
_PRIOR = (
    r"(?:previous|prior|above|earlier|preceding|foregoing|initial|original|old|existing|former|all|any|every|"
    r"your|the|these|those|system|developer|safety|openai|anthropic|given|preset|default)"
)
_ORDERS = (
    r"(?:instructions?|prompts?|rules|directions|directives|guidelines|constraints|guardrails|restrictions|"
    r"programming|commands?|polic(?:y|ies)|training|system message|context|messages|conversation|"
    r"limitations|filters|safeguards|content policy|told|tasks?|guidance|briefing|"
    r"moderation|ethics|morals|principles|values)"
)
_SECRET = r"(?:system|initial|original|hidden|secret|internal|developer|pre-?|first|confidential|base|full|exact)"
_STRONG_SECRET = r"(?:system|hidden|secret|internal|developer|pre-?|confidential)"
_PROMPT = r"(?:prompts?|instructions?|messages?|rules|configuration|guidelines|directives|context|preamble)"
_REVEAL = (
    "reveal|show|print|display|output|repeat|tell|give|leak|dump|expose|share|recite|spell out|write out|copy|"
    "paste|list|disclose|what is|what are|what was|what were|read back|echo|return|summarize|summarise|translate|"
    "paraphrase|begin|start|what does|encode|contents of"
)

RULES: tuple[Rule, ...] = (
    _rule(
        "ignore_instructions",
        0.9,
        _IGNORE,
        rf"(?:{_IGNORE})\b[^.!?\n]{{0,40}}?\b{_PRIOR}\b[^.!?\n]{{0,30}}?\b{_ORDERS}\b",
    ),
    _rule(
        "forget_everything",
        0.7,
        "forget",
        r"forget (?:everything|all(?: of)? (?:that|this|it)|what you were)"
        r"(?! (?:i|we) (?:said|wrote|told you|mentioned))",
    ),
    _rule(
        "reveal_prompt",
        0.85,
        _REVEAL,
        rf"(?:{_REVEAL})\b[^.!?\n]{{0,30}}?\b(?:(?:your|its)\s+(?:\w+\s+){{0,2}}?{_SECRET}|(?:the|these|all)\s+"
        rf"(?:\w+\s+){{0,2}}?{_STRONG_SECRET})\s*{_PROMPT}\b",
    ),
    _rule(
        "verbatim_instructions",
        0.6,
        "instructions|rules|guidelines|prompt|directives",
        r"(?:instructions|rules|guidelines|prompt|directives)\b[^.!?\n]{0,30}"
        r"\b(?:verbatim|word for word|exactly as|in full|character by character)",
    ),
    _rule(
        "repeat_above",
        0.7,
        "repeat|print|output|copy|translate|summarize|summarise",
        r"(?:repeat|print|output|copy|translate|summari[sz]e) (?:everything|all|the (?:text|words|content|lines|"
        r"message)s?) (?:above|before this|so far|that came before|you were given|starting with|prior to)",
    ),
    _rule(
        "what_told",
        0.6,
        "what",
        r"what (?:were|are|was) (?:you|your) (?:told|instructed|programmed|initial instructions|original instructions)",
    ),
    _rule(
        "dan",
        0.8,
        "dan|stan|dude",
        r"(?:dan|stan|dude|betterdan|antidan)\b(?! \d)[^.\n]{0,80}\b(?:mode|prompt|stands for|jailbreak|anything|"
        r"persona|character|respond|reply|answer|you are|no restrictions)",
    ),
    _rule("do_anything_now", 0.9, "do anything now", r"do anything now\b"),
    _rule("jailbreak", 0.4, "jailbreak|jailbroken|jailbreaking|jail break|jailbreaked", r"jail ?break|jailbroken"),
    _rule(
        "mode_switch",
        0.3,
        "developer|dev|god|debug|admin|sudo|maintenance|unrestricted|unfiltered|evil|opposite|dan",
        r"(?:developer|dev|god|debug|admin|sudo|maintenance|unrestricted|unfiltered|evil|opposite|dan) mode\b",
    ),
    _rule(
        "mode_enabled",
        0.25,
        "mode|enable|activate|switch|enter",
        r"mode (?:enabled|activated|on)\b|(?:enable|activate|switch to|enter) (?:developer|god|dan|sudo|unrestricted|"
        r"unfiltered|jailbreak) mode",
    ),
    _rule(
        "role_override",
        0.35,
        "you are now|you're now|from now on|act as|pretend|role-play|roleplay|role play|imagine you|you will now|"
        "henceforth|you're no longer|you are no longer|stop being|you must now|respond as|answer as|behave as|"
        "simulate|you are going to|you will be|become",
        r"(?:you are now|you're now|from now on|act as|pretend|role-?play|role play|imagine you|you will now|"
        r"henceforth|you're no longer|you are no longer|stop being|you must now|respond as|answer as|behave as|"
        r"simulate|you are going to (?:act|pretend|be)|you will be (?:acting|playing)|become)\b",
    ),
    _rule(
        "no_limits",
        0.45,
        "without|no|free of|free from|not bound|no longer bound|never bound|unbound|ignoring|beyond|outside|"
        "unconstrained by|regardless of|"
        "not restricted|not limited|never refuse|cannot refuse|can't refuse|don't refuse|do not refuse|not allowed to "
        "refuse|never decline",
        r"(?:(?:without|no|free (?:of|from)|(?:not|no longer|never) bound by|unbound by|ignoring|beyond|outside|"
        r"unconstrained by|regardless of|not restricted by|not limited by) (?:any |all |the |your |its |of |ai )*"
        r"(?:restrictions|"
        r"limits|limitations|filters?|filtering|censorship|rules|guidelines|ethics|ethical|morals|moral|policies|"
        r"content polic(?:y|ies)|safeguards|guardrails|boundaries|constraints|refusals)\b|(?:never|cannot|can't|"
        r"don't|do not|not allowed to) (?:refuse|decline))",
    ),
    _rule(
        "unfiltered",
        0.35,
        "unfiltered|uncensored|amoral|unethical|unaligned|immoral",
        r"(?:unfiltered|uncensored|amoral|unethical|unaligned|immoral)\b",
    ),
    _rule(
        "bypass_safety",
        0.75,
        "bypass|disable|turn off|deactivate|remove|circumvent|evade|get around|switch off|lift|break free|override|"
        "ignore|suspend|drop|skip",
        r"(?:bypass|disable|turn off|deactivate|remove|circumvent|evade|get around|switch off|lift|break free of|"
        r"override|ignore|suspend|drop|skip)\s+(?:your |the |all |any |its |of )?(?:own )?(?:safety |content |ethical |"
        r"moral |built-in |internal |ai |openai's |anthropic's )?(?:filters?|guardrails|restrictions|safeguards|"
        r"censorship|guidelines|policies|limitations|alignment|"
        r"safety(?: (?:protocols|measures|features|settings|checks?))?)\b",
    ),
    _rule(
        "fake_turn",
        0.65,
        "<|im_start|>|<|im_end|>|<|system|>|<|endoftext|>|[inst]|[/inst]|<<sys>>|<system>|</system>|[system]|"
        "begin system|end of system",
        r"<\|im_start\|>|<\|im_end\|>|<\|system\|>|<\|endoftext\|>|\[/?inst\]|<<sys>>|</?system>|\[system\]|"
        r"begin system|end of system (?:prompt|message|instructions)",
    ),
    _rule(
        "system_line",
        0.35,
        "system|admin|developer|assistant",
        r"(?:system|admin|developer|assistant)(?: prompt| message| instructions?| note| update)?\s*:",
        line_start=True,
    ),
    _rule(
        "system_override",
        0.7,
        "system|admin|developer|security|emergency|priority",
        r"(?:system|admin|developer|security|emergency|priority) (?:override|overwrite|update|alert|directive)\s*:",
    ),
    _rule(
        "system_directive",
        0.4,
        "system|admin|developer",
        r"(?:system|admin|developer)(?: prompt| message| instructions?| note)?\s*:\s*(?:you|your|ignore|always|never|"
        r"from now|the assistant|respond|answer|do not|don't)\b",
    ),
    _rule(
        "instructions_void",
        0.75,
        "instructions|rules|guidelines|directives|restrictions|policies|guardrails|constraints|filters",
        r"(?:instructions|rules|guidelines|directives|restrictions|policies|guardrails|constraints|filters)\b"
        r"[^.!?\n]{0,24}?\b(?:(?:are|is|have been|were) (?:now |hereby |officially |temporarily )?(?:void|null|invalid|"
        r"cancel+ed|revoked|suspended|lifted|obsolete|disabled|deactivated|removed|over|gone|outdated|overridden|"
        r"superseded|no longer (?:valid|active|in effect|relevant|apply|applicable))|(?:no longer|don't|do not) "
        r"apply)\b",
    ),
    _rule(
        "what_rules_given",
        0.6,
        "what|which",
        r"(?:what|which) (?:rules|instructions|guidelines|directives|restrictions|constraints) (?:were|have) you "
        r"(?:been )?(?:given|told|programmed|instructed|trained)",
    ),
    _rule(
        "told_to_keep",
        0.6,
        "secret|password|key|code|passphrase|passcode|flag",
        r"(?:secret|password|key|code|passphrase|passcode|flag)s?(?: that)? you (?:were|have been|are) (?:told|"
        r"instructed|asked|programmed) (?:to keep|to hide|to protect|to guard|not to (?:reveal|share|tell))",
    ),
    _rule(
        "your_prompt",
        0.6,
        "your",
        r"your (?:system|initial|original|hidden|secret|internal|pre-?|developer|confidential|full|entire) ?"
        r"(?:prompt|instructions|message|rules|context|configuration)\b",
    ),
    _rule(
        "hypothetical",
        0.3,
        "hypothetically|hypothetical|in a fictional|for a story|let's play|lets play|let us play|game where|"
        "imagine a world|in a world where|purely fictional",
        r"(?:hypothetically|hypothetical|in a fictional|for a story|let'?s play|let us play|game where|imagine a world|"
        r"in a world where|purely fictional)\b",
    ),
    _rule(
        "grandma",
        0.3,
        "activation|license|licence|product|serial|napalm|windows",
        r"(?:activation|licen[cs]e|product|serial|windows) keys?\b|napalm",
    ),
    _rule(
        "assistant_should",
        0.6,
        "assistant|ai|model|chatbot|llm|bot",
        r"(?:assistant|ai|model|chatbot|llm|bot) (?:should|must|will|needs to|has to) (?:now|instead|"
        r"immediately|secretly|also|from now on)\b",
    ),
    _rule(
        "new_instructions",
        0.6,
        "new|updated|real|true|actual|revised|secret|hidden|override|priority|your",
        r"(?:new|updated|real|true|actual|revised|secret|hidden|override|priority) (?:instructions?|orders|"
        r"directives?|task)\s*:|your (?:new|real|true|actual|only) (?:purpose|task|goal|instructions?|role|"
        r"objective|mission|directive)s? (?:is|are|will be)\b",
    ),
    _rule(
        "addressed_to_ai",
        0.6,
        "note|notes|message|attention|important|instruction|instructions|ai|assistant|llm|model|chatbot|hey|dear",
        r"(?:(?:note|message|attention|important|instruction)s? (?:to|for) (?:the |any )?(?:ai|assistant|llm|chatbot|"
        r"language model|model|gpt|claude|bot)\b|(?:ai|assistant|llm|model|chatbot)s?,? (?:reading|processing|"
        r"summari[sz]ing|seeing) this\b|(?:hey|dear) (?:ai|assistant|llm|chatgpt|gpt|claude|bot)\b[^.\n]{0,60}"
        r"\b(?:ignore|instead|must|new task|do not))",
    ),
    _rule("pwned", 0.8, "pwned|pwnd|h4cked|hacked", r"(?:pwned|pwnd|h4cked)\b|hacked\W{0,3}(?:'|\")"),
    _rule(
        "decode_and_follow",
        0.7,
        "decode|decrypt|base64|rot13|rot-13|hex|reverse|unscramble",
        r"(?:decode|decrypt|base64|rot-?13|hex|reverse|unscramble)\b[^\n]{0,60}?\b(?:and|then)\b"
        r"[^\n]{0,20}?\b(?:follow|execute|run|obey|do what it says|carry out|act on|comply with|perform)\b",
    ),
    _rule(
        "hide_from_user",
        0.4,
        "do not|don't|never|without",
        r"(?:do not|don't|never|without) (?:tell|telling|inform|informing|warn|warning|alert|alerting|"
        r"mention (?:this|it) to|reveal (?:this|it) to|let) (?:the )?user\b",
    ),
    _rule(
        "authority_claim",
        0.5,
        "i am|i'm|this is|as your",
        r"(?:i am|i'm|this is|as) your (?:developer|creator|administrator|admin|system "
        r"administrator|openai|anthropic|owner|operator)(?: staff| employee| engineer| team)?\b[^.!?\n]{0,60}"
        r"\b(?:override|authori[sz]e|unlock|grant|disable|allow|command|order|ignore|turn off|remove)",
    ),
    _rule(
        "foreign_ignore",
        0.9,
        "ignora|ignoriere|ignorez|negeer|ignore as|vergiss|oublie|olvida|esqueça|esqueca|忽略|無視|игнорируй|забудь",
        r"ignora (?:todas )?las (?:instrucciones|reglas)|ignoriere (?:alle )?(?:vorherigen |bisherigen )?"
        r"(?:anweisungen|regeln)|ignorez (?:toutes )?les (?:instructions|règles)|ignora (?:tutte )?le "
        r"istruzioni|negeer (?:alle )?(?:vorige )?instructies|ignore as instruções|vergiss (?:alle|deine) "
        r"(?:anweisungen|regeln)|oublie (?:toutes )?(?:les|tes) instructions|olvida (?:todas )?(?:las|tus) "
        r"instrucciones|esque[cç]a (?:todas )?as (?:instruções|instrucoes|regras)|"
        r"忽略(?:之前|以上|所有|先前)|無視|игнорируй|забудь (?:все )?(?:инструкции|правила)",
    ),
)
