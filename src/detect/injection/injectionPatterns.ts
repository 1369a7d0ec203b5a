/**
 * Prompt-injection patterns over normalised text (see normalizeText). Each category has a weight;
 * the score combines the categories that matched as 1 − Π(1 − w). Patterns require the verb and
 * its object together ("ignore … previous instructions"), so benign uses of trigger words
 * ("ignore whitespace", "act as a tour guide", "what is a system prompt?") stay below threshold.
 */
export interface InjectionPattern {
  kind: string;
  weight: number;
  pattern: RegExp;
}

const PRIOR = '(?:all |any |the |your |my |these |those |of |every )*(?:previous|prior|above|earlier|preceding|former|original|initial|system|old|existing|given|developer)';
const RULES = '(?:instructions?|prompts?|rules|directions?|directives?|guidelines|guidance|commands?|context|constraints|messages?|programming|policies|restrictions|training|orders)';

export const injectionPatterns: InjectionPattern[] = [
  {
    kind: 'instruction_override',
    weight: 0.85,
    pattern: new RegExp(`\\b(?:ignore|disregard|forget|skip|override|overwrite|bypass|drop|abandon|discard|neglect|dismiss)\\b[^.!?\\n]{0,40}?\\b${PRIOR}\\b[^.!?\\n]{0,20}?\\b${RULES}\\b`),
  },
  {
    kind: 'instruction_override',
    weight: 0.85,
    pattern: new RegExp(`\\b(?:ignore|disregard|forget|override|bypass)\\b (?:all |everything |anything )?(?:you (?:were|have been) (?:told|instructed|given)|(?:that )?(?:was|were) said before)`),
  },
  {
    kind: 'instruction_override',
    weight: 0.7,
    pattern: /\b(?:new|updated|real|actual|revised) (?:system )?(?:instructions?|rules|task|directive)s? ?(?:are|is|follow)?:|\bfrom now on,? you (?:will|must|shall|are going to|are to)\b|\byour (?:new|only|real) (?:task|goal|purpose|instructions?) (?:is|are)\b/,
  },
  {
    kind: 'instruction_override',
    weight: 0.75,
    pattern: /\b(?:do not|don't|never|stop) (?:follow|obey|comply with|adhere to|listen to|following|obeying|listening to) (?:your|the|any|those|these) (?:rules|guidelines|instructions|policies|restrictions|programming|safety)|\b(?:forget|ignore|disregard|drop|abandon) (?:all |about )?your (?:rules|instructions|guidelines|programming|restrictions|policies)\b/,
  },
  {
    kind: 'instruction_override',
    weight: 0.7,
    pattern: /\b(?:bypass|disable|turn off|deactivate|circumvent|remove|ignore) (?:all |any |of |the )*(?:your |its )?(?:safety|content|ethical|moderation) (?:filters?|guardrails?|restrictions|safeguards|censorship|policies|measures|protocols|settings)|\b(?:bypass|disable|turn off|deactivate|circumvent|remove) (?:all |any |of )*your (?:filters?|guardrails?|restrictions|safeguards|censorship)/,
  },
  {
    kind: 'role_play',
    weight: 0.65,
    pattern: /\byou are (?:now |no longer )(?:a |an |in )?(?:dan\b|developer mode|unrestricted|unfiltered|jailbroken|evil|free from|bound by|an ai (?:without|with no)|a language model without|an unrestricted|not bound|uncensored)/,
  },
  {
    kind: 'role_play',
    weight: 0.6,
    pattern: /\b(?:act|behave|respond|answer|roleplay|role-play) as (?:if you (?:were|are) )?(?:an? )?(?:dan\b|unrestricted|unfiltered|jailbroken|uncensored|evil|rogue|an ai (?:without|with no)|a model (?:without|with no)|developer mode|your (?:evil|unrestricted|true) self)/,
  },
  {
    kind: 'role_play',
    weight: 0.6,
    pattern: /\bpretend (?:that )?(?:you (?:are|have|were)|to be) (?:an? )?(?:no|not|without|free of|unrestricted|unfiltered|jailbroken|evil|an ai without)\b|\b(?:developer mode (?:enabled|on|activated)|jailbreak mode|god mode (?:enabled|on))\b|\b(?:who|that) (?:has|have) no (?:rules|restrictions|limits|limitations|filters|guidelines|ethics)\b/,
  },
  {
    kind: 'role_play',
    weight: 0.55,
    pattern: /\b(?:without|free (?:of|from)|no longer (?:bound|restricted|limited) by) (?:any )?(?:ethical |moral |content |safety )?(?:restrictions|limitations|filters|censorship|guidelines|rules)\b[^.!?\n]{0,40}\b(?:answer|respond|reply|tell|say|do|output)/,
  },
  {
    kind: 'system_prompt_leak',
    weight: 0.75,
    pattern: /\b(?:reveal|show|print|repeat|output|display|leak|dump|expose|disclose|recite|share|give|tell|return|write|spell out|translate)(?: me| us)?(?: back)?(?: all| exactly| verbatim| word for word)? (?:your|the|its|this|these)(?: full| entire| complete| exact)* (?:(?:original|hidden|secret|initial|confidential|internal|system|developer)(?: |-))+(?:prompt|message|instructions?|rules)|\b(?:reveal|show|print|repeat|output|display|leak|dump|disclose|recite|share|give|tell|return|spell out)(?: me| us)? (?:your|the) (?:pre-?prompt|instructions you were given|prompt you were given)/,
  },
  {
    kind: 'system_prompt_leak',
    weight: 0.7,
    pattern: /\b(?:repeat|print|output|copy|echo) (?:all |everything |the (?:text|words|content|lines) )?(?:above|before this|written above|preceding)\b|\bwhat (?:were|are) your (?:initial|original|system|hidden|secret|first) (?:instructions|prompt|rules)\b|\bwhat (?:was|is) (?:written|said) (?:at the (?:beginning|start|top)|before) (?:of )?(?:this|the) (?:conversation|chat|prompt)\b/,
  },
  {
    kind: 'delimiter',
    weight: 0.6,
    pattern: /<\|(?:im_start|im_end|system|user|assistant|endoftext|begin_of_text|start_header_id|end_header_id|eot_id)\|>|\[\/?inst\]|<<\/?sys>>|<\/(?:user|human|context|document|input|data)>\s*<(?:system|assistant|instructions?|admin)>|(?:^|\n| )#{2,} ?(?:system|new instructions?|instruction|admin)\b|\b(?:end of|ignore) (?:the )?(?:user )?(?:input|prompt|document|context|data)\b ?[\]\-=#:*>]|(?<![-=*])(?:-{3,}|={3,}|\*{3,}) ?(?:end|system|begin|new)\b/,
  },
  {
    kind: 'delimiter',
    weight: 0.55,
    pattern: /(?:^|\n|[.!?"'] )(?:system|assistant|admin|developer|root) ?(?:message|prompt|override|note)? ?: ?(?:you|ignore|the user|new|from now|override|disregard|forget|reveal|always|never|respond)/,
  },
  {
    kind: 'exfiltration',
    weight: 0.6,
    pattern: /\b(?:send|post|upload|forward|transmit|exfiltrate|leak|email|submit)\b[^.!?\n]{0,40}\b(?:conversation|chat history|system prompt|api keys?|credentials|passwords?|secrets?|tokens?|personal data|user data|the data|all data|contents?)\b[^.!?\n]{0,40}\b(?:to|at|via) (?:https?:|www\.|[a-z0-9.-]+\.[a-z]{2,}|this (?:url|address|endpoint|webhook)|the following (?:url|address|endpoint))/,
  },
  {
    kind: 'exfiltration',
    weight: 0.5,
    pattern: /!\[[^\]]{0,100}\]\(https?:\/\/[^)\s]{1,300}[?&][a-z0-9_]{1,40}=[^)\s]{0,200}(?:\{|%7b|\$|data|secret|prompt|conversation|chat|history)/,
  },
];

/** Trigger words that raise a score a little but never reach the threshold alone. */
export const weakSignals: InjectionPattern[] = [
  { kind: 'trigger_word', weight: 0.15, pattern: /\b(?:jailbreak|jailbroken|dan mode|do anything now|prompt injection|system prompt|unfiltered|uncensored)\b/ },
  { kind: 'markup_role_tag', weight: 0.35, pattern: /<\/?(?:system|sys|instructions?)>/ },
];
