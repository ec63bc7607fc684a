import { expect } from 'chai';
import { percentile } from '../bench/http.js';

// The bench's p50/p99 come from each answer's own latency (autocannon's percentiles are whole ms).
describe('bench: percentile (nearest rank)', () => {
  it('gives the nearest-rank percentile of unsorted values, fractions kept', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i + 0.25);
    expect(percentile(values, 50)).to.equal(50.25);
    expect(percentile(values, 99)).to.equal(99.25);
    expect(percentile(values, 100)).to.equal(100.25);
    expect(percentile([3.2], 99)).to.equal(3.2);
    expect(percentile([4, 3.5, 3.1], 50)).to.equal(3.5);
    expect(percentile([], 50)).to.be.NaN;
  });
});
