import { SmsOtpError } from '../errors.js';
import { unknownOptions, type OptionNames } from '../options.js';
import { normalizePhoneNumber } from '../phone.js';
import { checkMessageOptions, renderMessage, type MessageOptions, type SmsMessage, type SmsSender } from '../sender.js';

/** One message in the outbox, as a dev page shows it. */
export interface OutboxEntry {
  to: string;
  text: string;
  /** ISO 8601 time of the send. */
  sentAt: string;
}

export interface OutboxSenderOptions extends MessageOptions {
  /**
   * Messages kept; older ones are dropped first.
   * @default 100
   */
  maxMessages?: number | undefined;
  /**
   * The outbox refuses to be constructed when `NODE_ENV=production` (it would
   * show every code on a web page). Set this to `true` only if you really mean it.
   * @default false
   */
  allowInProduction?: boolean | undefined;
}

const OPTION_NAMES: readonly string[] = Object.freeze(Object.keys({
  maxMessages: true,
  allowInProduction: true,
  messageTemplate: true,
  webOtpHost: true,
} satisfies OptionNames<OutboxSenderOptions>));

/**
 * A development {@link SmsSender} that keeps the messages in memory instead of
 * sending them, for a dev page and for tests. Not for production: it refuses
 * to be constructed when `NODE_ENV=production` unless forced.
 */
export class OutboxSender implements SmsSender {
  private readonly entries: OutboxEntry[] = [];
  private readonly maxMessages: number;
  private readonly messageOptions: MessageOptions;

  constructor(options: OutboxSenderOptions = {}) {
    if (options === null || typeof options !== 'object') throw new SmsOtpError('INVALID_OPTIONS', 'OutboxSender: options must be an object');
    // First: a misspelled allowInProduction must be named, not answered with the production refusal.
    const unknown = unknownOptions('OutboxSender', options, OPTION_NAMES);
    if (unknown !== undefined) throw new SmsOtpError('INVALID_OPTIONS', unknown);
    if (process.env.NODE_ENV === 'production' && options.allowInProduction !== true) {
      throw new SmsOtpError('INVALID_OPTIONS', 'OutboxSender is a development sender and refuses NODE_ENV=production; configure a real sender (pass allowInProduction: true to force it)');
    }
    const maxMessages = options.maxMessages ?? 100;
    if (!Number.isInteger(maxMessages) || maxMessages < 1) throw new SmsOtpError('INVALID_OPTIONS', 'OutboxSender: maxMessages must be a positive whole number');
    this.maxMessages = maxMessages;
    this.messageOptions = checkMessageOptions('OutboxSender', options);
  }

  async send(message: SmsMessage): Promise<void> {
    this.entries.push({ to: message.to, text: renderMessage(message, this.messageOptions), sentAt: new Date().toISOString() });
    if (this.entries.length > this.maxMessages) this.entries.splice(0, this.entries.length - this.maxMessages);
  }

  /** The kept messages, oldest first (a copy). */
  get messages(): OutboxEntry[] {
    return this.entries.map((entry) => ({ ...entry }));
  }

  /**
   * The newest message to a number, if any. The steps send to E.164 (`+4512345678`): a number
   * written with spaces or hyphens (`+45 12 34 56 78`, as a user may be stored) finds those too.
   */
  lastTo(to: string): OutboxEntry | undefined {
    let e164 = to;
    try {
      e164 = normalizePhoneNumber(to).e164;
    } catch {
      // Not a number a text could have gone to: compared as it is, so nothing matches.
    }
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const entry = this.entries[i];
      if (entry !== undefined && (entry.to === e164 || entry.to === to)) return { ...entry };
    }
    return undefined;
  }

  clear(): void {
    this.entries.length = 0;
  }
}
