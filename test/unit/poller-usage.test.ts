import { describe, expect, it } from 'vitest';
import { maxUsage, parseUsageHeaders, peakRatio } from '../../src/poller/usage.js';

describe('usage headers', () => {
  it('turns Meta percentages into ratios and takes the higher of app and business usage per kind', () => {
    const u = parseUsageHeaders({
      'x-app-usage': '{"call_count":28,"total_cputime":15,"total_time":12}',
      'x-business-use-case-usage': '{"112130216863063":[{"type":"whatsapp_business_management","call_count":10,"total_cputime":40,"total_time":5,"estimated_time_to_regain_access":0}]}',
    });
    expect(u).toEqual({ ratios: { call_count: 0.28, total_cputime: 0.4, total_time: 0.12 }, regainAccessSeconds: 0 });
  });

  it('reads every business entry and converts the regain estimate from minutes to seconds', () => {
    const u = parseUsageHeaders({
      'x-business-use-case-usage': JSON.stringify({
        '1': [{ type: 'a', call_count: 20, estimated_time_to_regain_access: 0 }],
        '2': [{ type: 'b', call_count: 104, total_time: 3, estimated_time_to_regain_access: 7 }],
      }),
    });
    expect(u?.ratios.call_count).toBeCloseTo(1.04);
    expect(u?.regainAccessSeconds).toBe(420);
    expect(peakRatio(u)).toBeCloseTo(1.04);
  });

  it('ignores absent, malformed and misshapen headers instead of failing the call', () => {
    expect(parseUsageHeaders({})).toBeUndefined();
    expect(parseUsageHeaders({ 'x-app-usage': '{"call_count":' })).toBeUndefined();
    expect(parseUsageHeaders({ 'x-app-usage': '"busy"', 'x-business-use-case-usage': '[1,2]' })).toBeUndefined();
    expect(parseUsageHeaders({ 'x-app-usage': ['{"call_count":50}'] })?.ratios.call_count).toBe(0.5);
    expect(peakRatio(undefined)).toBe(0);
  });

  it('combines readings of one round kind by kind', () => {
    const a = parseUsageHeaders({ 'x-app-usage': '{"call_count":10,"total_time":80}' });
    const b = parseUsageHeaders({ 'x-app-usage': '{"call_count":60,"total_time":5}' });
    expect(maxUsage(a, b)?.ratios).toEqual({ call_count: 0.6, total_cputime: 0, total_time: 0.8 });
    expect(maxUsage(undefined, b)).toBe(b);
  });
});
