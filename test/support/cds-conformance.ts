/**
 * CDS Hooks 2.0 conformance of what a service answers, field by field as the specification's tables state them
 * (§Discovery "CDS Service" object, §Card Attributes, §Source, §Suggestion, §Action, §Link, overrideReasons), so a
 * test can say "this card is a valid CDS Hooks card" and name every field that is not. Returns one message per
 * problem; none is a pass.
 */

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const isAbsoluteUrl = (value: unknown): boolean => isString(value) && /^https?:\/\/[^\s]+$/.test(value);

/** §Prefetch tokens: `{{context.<root field>}}` or one of the user identifiers. */
const PREFETCH_TOKEN =
  /\{\{\s*(context\.[A-Za-z]+|userPractitionerId|userPractitionerRoleId|userPatientId|userRelatedPersonId)\s*\}\}/g;

export function discoveryProblems(body: unknown): string[] {
  if (!isObject(body) || !Array.isArray(body.services)) return ['discovery: body.services must be an array'];
  return body.services.flatMap((service: unknown, i) => {
    const where = `services[${i}]`;
    if (!isObject(service)) return [`${where}: not an object`];
    const problems: string[] = [];
    for (const field of ['hook', 'description', 'id'] as const)
      if (!isString(service[field])) problems.push(`${where}.${field}: REQUIRED string`);
    if (service.title !== undefined && typeof service.title !== 'string') problems.push(`${where}.title: string`);
    if (service.prefetch !== undefined) {
      if (!isObject(service.prefetch)) problems.push(`${where}.prefetch: object of templates`);
      else
        for (const [key, template] of Object.entries(service.prefetch)) {
          if (!isString(template)) problems.push(`${where}.prefetch.${key}: string template`);
          else if (template.replace(PREFETCH_TOKEN, '').includes('{{'))
            problems.push(`${where}.prefetch.${key}: a token that is not a root-level context field or user id`);
        }
    }
    return problems;
  });
}

function codingProblems(coding: unknown, where: string, displayRequired: boolean): string[] {
  if (!isObject(coding)) return [`${where}: Coding object`];
  const problems: string[] = [];
  if (!isString(coding.code)) problems.push(`${where}.code: REQUIRED string`);
  if (coding.system !== undefined && !isString(coding.system)) problems.push(`${where}.system: string`);
  if (displayRequired && !isString(coding.display)) problems.push(`${where}.display: the service MUST populate it`);
  return problems;
}

export function cardProblems(card: unknown, where = 'card'): string[] {
  if (!isObject(card)) return [`${where}: not an object`];
  const problems: string[] = [];
  if (card.uuid !== undefined && !isString(card.uuid)) problems.push(`${where}.uuid: string`);
  if (!isString(card.summary)) problems.push(`${where}.summary: REQUIRED string`);
  else if (card.summary.length >= 140) problems.push(`${where}.summary: must be < 140 characters`);
  if (card.detail !== undefined && typeof card.detail !== 'string') problems.push(`${where}.detail: markdown string`);
  if (!['info', 'warning', 'critical'].includes(String(card.indicator)))
    problems.push(`${where}.indicator: REQUIRED info | warning | critical`);
  if (!isObject(card.source)) problems.push(`${where}.source: REQUIRED object`);
  else {
    if (!isString(card.source.label)) problems.push(`${where}.source.label: REQUIRED string`);
    if (card.source.url !== undefined && !isAbsoluteUrl(card.source.url))
      problems.push(`${where}.source.url: absolute URL`);
    if (card.source.topic !== undefined)
      problems.push(...codingProblems(card.source.topic, `${where}.source.topic`, false));
  }
  if (card.suggestions !== undefined) {
    if (!Array.isArray(card.suggestions)) problems.push(`${where}.suggestions: array`);
    else {
      if (!['at-most-one', 'any'].includes(String(card.selectionBehavior)))
        problems.push(`${where}.selectionBehavior: MUST be provided (at-most-one | any) with suggestions`);
      card.suggestions.forEach((suggestion: unknown, i) => {
        const at = `${where}.suggestions[${i}]`;
        if (!isObject(suggestion)) return problems.push(`${at}: object`);
        if (!isString(suggestion.label)) problems.push(`${at}.label: REQUIRED string`);
        if (suggestion.uuid !== undefined && !isString(suggestion.uuid)) problems.push(`${at}.uuid: string`);
        if (suggestion.isRecommended !== undefined && typeof suggestion.isRecommended !== 'boolean')
          problems.push(`${at}.isRecommended: boolean`);
        const actions = suggestion.actions;
        if (actions !== undefined && !Array.isArray(actions)) problems.push(`${at}.actions: array`);
        (Array.isArray(actions) ? actions : []).forEach((action: unknown, j) => {
          const act = `${at}.actions[${j}]`;
          if (!isObject(action)) return problems.push(`${act}: object`);
          if (!['create', 'update', 'delete'].includes(String(action.type)))
            problems.push(`${act}.type: REQUIRED create | update | delete`);
          if (!isString(action.description)) problems.push(`${act}.description: REQUIRED string`);
          if ((action.type === 'create' || action.type === 'update') && !isObject(action.resource))
            problems.push(`${act}.resource: the resource, in its entirety, for ${JSON.stringify(action.type)}`);
          if (isObject(action.resource) && !isString(action.resource.resourceType))
            problems.push(`${act}.resource.resourceType: a FHIR resource`);
          return undefined;
        });
        return undefined;
      });
    }
  } else if (
    card.selectionBehavior !== undefined &&
    !['at-most-one', 'any'].includes(JSON.stringify(card.selectionBehavior).slice(1, -1))
  )
    problems.push(`${where}.selectionBehavior: at-most-one | any`);
  if (card.overrideReasons !== undefined) {
    if (!Array.isArray(card.overrideReasons)) problems.push(`${where}.overrideReasons: array of Coding`);
    else
      card.overrideReasons.forEach((reason: unknown, i) =>
        problems.push(...codingProblems(reason, `${where}.overrideReasons[${i}]`, true)),
      );
  }
  if (card.links !== undefined) {
    if (!Array.isArray(card.links)) problems.push(`${where}.links: array`);
    else
      card.links.forEach((link: unknown, i) => {
        const at = `${where}.links[${i}]`;
        if (!isObject(link)) return problems.push(`${at}: object`);
        if (!isString(link.label)) problems.push(`${at}.label: REQUIRED string`);
        if (!isAbsoluteUrl(link.url)) problems.push(`${at}.url: REQUIRED URL`);
        if (!['absolute', 'smart'].includes(String(link.type))) problems.push(`${at}.type: REQUIRED absolute | smart`);
        if (link.appContext !== undefined && (link.type !== 'smart' || typeof link.appContext !== 'string'))
          problems.push(`${at}.appContext: a string, for smart links only`);
        return undefined;
      });
  }
  return problems;
}

/** §Card Attributes on every card of a response, and `cards` itself REQUIRED. */
export function responseProblems(body: unknown): string[] {
  if (!isObject(body) || !Array.isArray(body.cards))
    return ['response: cards is REQUIRED (an array, empty when nothing to say)'];
  return body.cards.flatMap((card: unknown, i) => cardProblems(card, `cards[${i}]`));
}
