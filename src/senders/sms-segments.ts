/** GSM 03.38 default alphabet (without the escape character, which is no text). */
const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
/** GSM 03.38 extension table: each one is sent as escape + character, so it costs two. */
const GSM7_EXTENDED = new Set('\f^{}\\[~]|€');

/** How a text travels as SMS. */
export interface SmsLength {
  /** GSM-7 when every character is in the GSM 03.38 alphabet (with its extension table), else UCS-2. */
  readonly encoding: 'GSM-7' | 'UCS-2';
  /** Length in the encoding's units: septets for GSM-7 (extended characters count 2), UTF-16 code units for UCS-2. */
  readonly units: number;
  /** What fits in one SMS: 160 for GSM-7, 70 for UCS-2. */
  readonly singleSegmentLimit: 160 | 70;
  /** SMS parts the text needs: 153 (GSM-7) or 67 (UCS-2) per part once it is split. */
  readonly segments: number;
}

/** Measures a text the way the SMS network bills it. */
export function smsLength(text: string): SmsLength {
  let septets = 0;
  for (const char of text) {
    if (GSM7_BASIC.has(char)) septets += 1;
    else if (GSM7_EXTENDED.has(char)) septets += 2;
    else {
      const units = text.length;
      return { encoding: 'UCS-2', units, singleSegmentLimit: 70, segments: units <= 70 ? 1 : Math.ceil(units / 67) };
    }
  }
  return { encoding: 'GSM-7', units: septets, singleSegmentLimit: 160, segments: septets <= 160 ? 1 : Math.ceil(septets / 153) };
}
