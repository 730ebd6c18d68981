-- The example database of etc/examples/facts.lua: a small shop. shop.db is made from
-- this file by make-shop-db.mjs (t/node etc/examples/make-shop-db.mjs).
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, price_cents INTEGER NOT NULL);
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT NOT NULL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
  product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL, ordered_on TEXT NOT NULL);
CREATE VIEW revenue_by_category AS
  SELECT p.category, sum(o.quantity * p.price_cents) AS revenue_cents
  FROM orders o JOIN products p ON p.id = o.product_id GROUP BY p.category;
INSERT INTO products VALUES (1, 'Espresso beans 1 kg', 'coffee', 2490), (2, 'Filter papers', 'coffee', 390),
  (3, 'Green tea 100 g', 'tea', 650), (4, 'Teapot', 'tea', 3200), (5, 'Hand grinder', 'coffee', 5900);
INSERT INTO customers VALUES (1, 'Ada', 'GB'), (2, 'Grace', 'US'), (3, 'Linus', 'FI'), (4, 'Margaret', 'US');
INSERT INTO orders VALUES (1, 1, 1, 2, '2026-01-05'), (2, 2, 3, 1, '2026-01-09'), (3, 3, 5, 1, '2026-02-11'),
  (4, 1, 2, 3, '2026-02-14'), (5, 4, 4, 1, '2026-03-01'), (6, 2, 1, 1, '2026-03-20');
