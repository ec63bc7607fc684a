/** One code to deliver. Senders render the text themselves (see {@link renderMessage}). */
export interface SmsMessage {
  /** E.164 phone number, `+` and country code first, e.g. `+4512345678`. */
  readonly to: string;
  /** The one-time code. Never log it. */
  readonly code: string;
  /** How long the code lives, for the message text. */
  readonly ttlSeconds: number;
}

/**
 * Sends a one-time code by SMS. Implementations throw on failure and never
 * retry once the request may have reached the provider: a duplicate SMS costs
 * money and confuses the user. Throw an {@link SmsSendError} with
 * `mayHaveBeenSent: false` when the text surely did not go out (a refusal, a
 * connection that never opened): only then is the send given back to the
 * user's budgets. Any other error counts as a send that may have happened.
 */
export interface SmsSender {
  send(message: SmsMessage): Promise<void>;
}

/** Renders the text of a code message. */
export type MessageTemplate = (code: string, context: { ttlSeconds: number }) => string;

/**
 * The default text: short, English, the code first so it shows in notifications. The lifetime is
 * never overstated: whole minutes rounded down, or seconds under a minute.
 */
export const defaultMessageTemplate: MessageTemplate = (code, { ttlSeconds }) => {
  const lifetime = ttlSeconds < 60 ? `${Math.max(1, Math.floor(ttlSeconds))} s` : `${Math.floor(ttlSeconds / 60)} min`;
  return `${code} is your login code. It expires in ${lifetime}. Never share it.`;
};

/** Options every bundled sender shares for the message text. */
export interface MessageOptions {
  /**
   * Renders the message text.
   * @default defaultMessageTemplate
   */
  messageTemplate?: MessageTemplate | undefined;
  /**
   * When set (a host name such as `example.com`), the message ends with the line
   * `@example.com #123456`, the origin-bound one-time-code format that Safari and
   * Chrome (WebOTP) read to fill the code in for that site only.
   */
  webOtpHost?: string | undefined;
}

const HOST_PATTERN = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::\d{1,5})?$/i;

/** Checks a WebOTP host once, at construction; a bad one is a configuration error. */
export function checkWebOtpHost(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  if (typeof host !== 'string' || !HOST_PATTERN.test(host)) {
    throw new TypeError(`webOtpHost must be a bare host name such as "example.com" (no scheme or path), got ${JSON.stringify(host)}`);
  }
  return host.toLowerCase();
}

/** The code and lifetime a template is tried with once, at construction: the longest the package issues, so a measured text is the worst case. */
export const SAMPLE_MESSAGE = { code: '0123456789', ttlSeconds: 600 } as const;

/**
 * Checks a sender's message options once, at construction: a template that is not a function,
 * that throws, or whose text leaves the code out is a configuration error (`owner` names the
 * sender in the message). Returns the options with the template filled in.
 */
export function checkMessageOptions(owner: string, options: MessageOptions): Required<Pick<MessageOptions, 'messageTemplate'>> & MessageOptions {
  const template = options.messageTemplate ?? defaultMessageTemplate;
  if (typeof template !== 'function') throw new TypeError(`${owner}: messageTemplate must be a function (code, { ttlSeconds }) => string`);
  let text: unknown;
  try {
    text = template(SAMPLE_MESSAGE.code, { ttlSeconds: SAMPLE_MESSAGE.ttlSeconds });
  } catch (err) {
    throw new TypeError(`${owner}: messageTemplate threw while rendering a sample message`, { cause: err });
  }
  if (typeof text !== 'string' || !text.includes(SAMPLE_MESSAGE.code)) {
    throw new TypeError(`${owner}: messageTemplate must return a string that contains the code`);
  }
  return { messageTemplate: template, webOtpHost: checkWebOtpHost(options.webOtpHost) };
}

/** The full text of a code message, with the WebOTP line when a host is set. */
export function renderMessage(message: Pick<SmsMessage, 'code' | 'ttlSeconds'>, options: MessageOptions = {}): string {
  const template = options.messageTemplate ?? defaultMessageTemplate;
  const text = template(message.code, { ttlSeconds: message.ttlSeconds });
  return options.webOtpHost === undefined ? text : `${text}\n\n@${options.webOtpHost} #${message.code}`;
}

/** Keeps only the last two digits of a phone number, for logs, errors and events. */
export function redactPhoneNumber(phoneNumber: string): string {
  const digits = String(phoneNumber).replace(/\D/g, '');
  if (digits.length <= 2) return '**';
  return `${'*'.repeat(digits.length - 2)}${digits.slice(-2)}`;
}
