// The documents the bench writes: a realistic "order" (~500 B of BSON: ObjectId, strings, a
// nested address, line items, dates, Decimal128 prices, Long counters) and orders grown or
// shrunk to a target size for the scaling runs. Deterministic per `seq`, so runs compare.
import { type Document, Decimal128, Long, ObjectId, calculateObjectSize } from 'bson';

const CITIES = [
  { street: '12 St James Square', city: 'London', zip: 'SW1Y 4JH', country: 'GB' },
  { street: '221B Baker Street', city: 'London', zip: 'NW1 6XE', country: 'GB' },
  { street: 'Rue de Rivoli 99', city: 'Paris', zip: '75001', country: 'FR' },
  { street: 'Unter den Linden 5', city: 'Berlin', zip: '10117', country: 'DE' },
];
const PRODUCTS = [
  { sku: 'TEA-EARL-250', name: 'Earl Grey, loose leaf, 250 g', price: '7.95' },
  { sku: 'CUP-PORC-WHT', name: 'Porcelain cup, white', price: '12.50' },
  { sku: 'CAKE-LEMON-1', name: 'Lemon drizzle cake', price: '4.20' },
  { sku: 'JAM-STRAW-340', name: 'Strawberry jam, 340 g', price: '3.75' },
];
const STATUSES = ['new', 'paid', 'packed', 'shipped'];

function item(seq: number, k: number): Document {
  const p = PRODUCTS[(seq + k) % PRODUCTS.length]!;
  return {
    sku: p.sku,
    name: p.name,
    qty: 1 + ((seq + k) % 3),
    price: Decimal128.fromString(p.price),
  };
}

/** One order with `items` line items (1–2 by default: 505 or 596 B). */
export function order(seq: number, items = 1 + (seq % 2), extra: Document = {}): Document {
  const created = new Date(Date.UTC(2024, 0, 1) + seq * 60_000);
  return {
    _id: new ObjectId(),
    seq,
    orderNo: `ORD-2024-${String(seq).padStart(8, '0')}`,
    status: STATUSES[seq % STATUSES.length],
    customer: {
      name: 'Ada Lovelace',
      email: `ada.${seq % 1000}@example.com`,
      address: CITIES[seq % CITIES.length],
    },
    items: Array.from({ length: items }, (_, k) => item(seq, k)),
    total: Decimal128.fromString(`${(seq % 9000) + 10}.${String(seq % 100).padStart(2, '0')}`),
    currency: 'GBP',
    createdAt: created,
    updatedAt: created,
    counters: { views: Long.fromNumber(seq % 50), edits: Long.ZERO },
    tags: ['web', seq % 3 === 0 ? 'gift' : 'standard'],
    ...extra,
  };
}

/** A small record of about 100 B (for the smallest scaling size). */
function small(seq: number): Document {
  return {
    _id: new ObjectId(),
    seq,
    status: STATUSES[seq % STATUSES.length],
    total: Decimal128.fromString('19.99'),
    at: new Date(Date.UTC(2024, 0, 1) + seq * 1000),
  };
}

/** A document generator whose documents are close to `bytes` of BSON. */
export function sized(bytes: number): (seq: number) => Document {
  if (bytes <= 200) return small;
  // Orders grow by line items (many small values, as real large documents do, rather than
  // one long string that any decoder copies in one go).
  const base = calculateObjectSize(order(0, 0));
  const perItem = (calculateObjectSize(order(0, 40)) - base) / 40;
  const items = Math.max(0, Math.round((bytes - base) / perItem));
  return (seq) => order(seq, items);
}

/** The average BSON size of `gen`'s documents (over a few samples). */
export function averageSize(gen: (seq: number) => Document): number {
  let total = 0;
  for (let i = 0; i < 8; i++) total += calculateObjectSize(gen(i));
  return Math.round(total / 8);
}
