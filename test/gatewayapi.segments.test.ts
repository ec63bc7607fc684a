import { expect } from 'chai';
import { smsLength, type SmsLength } from '../src/senders/sms-segments.js';

const cases: Array<[name: string, text: string, expected: SmsLength]> = [
  ['an empty text', '', { encoding: 'GSM-7', units: 0, singleSegmentLimit: 160, segments: 1 }],
  ['the default message', '123456 is your login code. It expires in 5 min. Never share it.', { encoding: 'GSM-7', units: 63, singleSegmentLimit: 160, segments: 1 }],
  ['Danish letters of the GSM alphabet', 'Din kode: 123456. Gælder i 5 min. Øh, å!', { encoding: 'GSM-7', units: 40, singleSegmentLimit: 160, segments: 1 }],
  ['160 GSM-7 characters', 'a'.repeat(160), { encoding: 'GSM-7', units: 160, singleSegmentLimit: 160, segments: 1 }],
  ['161 GSM-7 characters (153 per part)', 'a'.repeat(161), { encoding: 'GSM-7', units: 161, singleSegmentLimit: 160, segments: 2 }],
  ['306 GSM-7 characters', 'a'.repeat(306), { encoding: 'GSM-7', units: 306, singleSegmentLimit: 160, segments: 2 }],
  ['307 GSM-7 characters', 'a'.repeat(307), { encoding: 'GSM-7', units: 307, singleSegmentLimit: 160, segments: 3 }],
  ['every extension character counts two', '^{}\\[~]|€\f', { encoding: 'GSM-7', units: 20, singleSegmentLimit: 160, segments: 1 }],
  ['80 euro signs', '€'.repeat(80), { encoding: 'GSM-7', units: 160, singleSegmentLimit: 160, segments: 1 }],
  ['81 euro signs', '€'.repeat(81), { encoding: 'GSM-7', units: 162, singleSegmentLimit: 160, segments: 2 }],
  ['a WebOTP line', '123456 is your code.\n\n@login.example.com #123456', { encoding: 'GSM-7', units: 48, singleSegmentLimit: 160, segments: 1 }],
  ['one character outside GSM-7 (lower-case ç)', 'ç'.padEnd(70, 'a'), { encoding: 'UCS-2', units: 70, singleSegmentLimit: 70, segments: 1 }],
  ['71 UCS-2 characters (67 per part)', 'ж'.repeat(71), { encoding: 'UCS-2', units: 71, singleSegmentLimit: 70, segments: 2 }],
  ['an emoji is two UTF-16 units', `${'a'.repeat(68)}🔐`, { encoding: 'UCS-2', units: 70, singleSegmentLimit: 70, segments: 1 }],
  ['a backtick is not GSM-7', '`', { encoding: 'UCS-2', units: 1, singleSegmentLimit: 70, segments: 1 }],
];

describe('SMS length (GSM-7 / UCS-2 segments)', () => {
  for (const [name, text, expected] of cases) {
    it(name, () => {
      expect(smsLength(text)).to.deep.equal(expected);
    });
  }
});
