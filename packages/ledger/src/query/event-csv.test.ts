import { describe, expect, it } from 'vitest';
import { csvCell } from './event-csv.js';

describe('csvCell', () => {
  it('leaves plain values alone and empties nulls', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell(12.5)).toBe('12.5');
    expect(csvCell(null)).toBe('');
  });

  it('quotes separators, quotes and line breaks (RFC 4180)', () => {
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    expect(csvCell('carriage\rreturn')).toBe('"carriage\rreturn"');
    expect(csvCell('a,"b",\r\nc')).toBe('"a,""b"",\r\nc"');
    expect(csvCell('"')).toBe('""""');
  });

  it('defuses text a spreadsheet would run as a formula', () => {
    expect(csvCell('=1+2')).toBe("'=1+2");
    expect(csvCell('+cmd')).toBe("'+cmd");
    expect(csvCell('-2')).toBe("'-2");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvCell(-2)).toBe('-2');
    expect(csvCell('\tcmd')).toBe("'\tcmd");
    expect(csvCell('\r=1')).toBe(`"'\r=1"`);
    // The full-width forms, which some spreadsheets also read as a formula.
    expect(['\uFF1D1+2', '\uFF0Bcmd', '\uFF0D2', '\uFF20SUM(A1)'].map(csvCell)).toEqual(["'\uFF1D1+2", "'\uFF0Bcmd", "'\uFF0D2", "'\uFF20SUM(A1)"]);
  });
});
