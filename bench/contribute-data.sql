-- contribute-data.sql — set-based generator of a contributions-heavy child for `make bench-contribute`.
--
-- Before sourcing, set in the same session:
--   SET @cs_contacts = 100000;   -- number of contacts (>= 20); ids 2 .. @cs_contacts+1
-- Load into a database holding tests/fixtures/civicrm-5-full.sql + seed-5-empty-site.sql
-- (contact 1 = the domain organization; the installer's financial types, financial accounts,
-- account relationships, payment instruments and the reserved price set
-- 'default_contribution_amount'). Every id of that metadata is looked up by name here, never
-- assumed. Uses MariaDB's SEQUENCE engine; no loops, no NOW()/RAND(): every value derives from
-- the row number, so two loads give byte-identical data. FOREIGN_KEY_CHECKS stays on.
--
-- Shape, per contact: 1 Individual, 1 email, 3 contributions (ids 3i-2 .. 3i), each with what
-- CiviCRM writes for a back-office contribution through the default price set: 1 line item
-- (on the contribution, price field 'contribution_amount'), 1 financial transaction (to the
-- payment instrument's asset account; for a pending pay-later one to Accounts Receivable,
-- is_payment 0), 1 financial item (on the line item, to the financial type's income account)
-- and 2 entity_financial_trxn rows (contribution -> trxn, financial item -> trxn).
-- Every 20th contact has a monthly recurring contribution (its 3 contributions are its
-- instalments); every 10th contribution carries a soft credit to another contact; 2 % of the
-- contributions are pending pay-later. Financial types cycle Donation, Donation, Campaign
-- Contribution, Member Dues; payment instruments cycle through the 5 the installer defines.
-- Per 100 contacts: 100 contacts, 100 emails, 5 recurring contributions, 300 contributions,
-- 300 line items, 300 financial trxns, 300 financial items, 600 entity_financial_trxn rows,
-- 30 soft credits: 2,035 rows.

SET NAMES utf8mb4;
SET time_zone = '+00:00';

-- Parameter check: fails with "Column 'cs_contacts_must_be_set' cannot be null".
DROP TEMPORARY TABLE IF EXISTS cs_param_check;
CREATE TEMPORARY TABLE cs_param_check (cs_contacts_must_be_set INT NOT NULL);
INSERT INTO cs_param_check SELECT IF(@cs_contacts >= 20 AND @cs_contacts <= 10000000, 1, NULL);
DROP TEMPORARY TABLE cs_param_check;
SET @n = CAST(@cs_contacts AS SIGNED);

-- The seed's metadata, by name (a missing row makes the NOT NULL check below fail).
SET @og_pi = (SELECT id FROM civicrm_option_group WHERE name = 'payment_instrument');
SET @og_rel = (SELECT id FROM civicrm_option_group WHERE name = 'account_relationship');
SET @rel_income = (SELECT value FROM civicrm_option_value WHERE option_group_id = @og_rel AND name = 'Income Account is');
SET @rel_asset = (SELECT value FROM civicrm_option_value WHERE option_group_id = @og_rel AND name = 'Asset Account is');
SET @rel_ar = (SELECT value FROM civicrm_option_value WHERE option_group_id = @og_rel AND name = 'Accounts Receivable Account is');
SET @st_completed = (SELECT v.value FROM civicrm_option_value v JOIN civicrm_option_group g ON g.id = v.option_group_id
                     WHERE g.name = 'contribution_status' AND v.name = 'Completed');
SET @st_pending = (SELECT v.value FROM civicrm_option_value v JOIN civicrm_option_group g ON g.id = v.option_group_id
                   WHERE g.name = 'contribution_status' AND v.name = 'Pending');
SET @st_in_progress = (SELECT v.value FROM civicrm_option_value v JOIN civicrm_option_group g ON g.id = v.option_group_id
                       WHERE g.name = 'contribution_recur_status' AND v.name = 'In Progress');
SET @fi_paid = (SELECT v.value FROM civicrm_option_value v JOIN civicrm_option_group g ON g.id = v.option_group_id
                WHERE g.name = 'financial_item_status' AND v.name = 'Paid');
SET @fi_unpaid = (SELECT v.value FROM civicrm_option_value v JOIN civicrm_option_group g ON g.id = v.option_group_id
                  WHERE g.name = 'financial_item_status' AND v.name = 'Unpaid');
SET @ps = (SELECT id FROM civicrm_price_set WHERE name = 'default_contribution_amount');
SET @pf = (SELECT id FROM civicrm_price_field WHERE price_set_id = @ps AND name = 'contribution_amount');
SET @pfv = (SELECT id FROM civicrm_price_field_value WHERE price_field_id = @pf AND name = 'contribution_amount');
SET @fa_ar = (SELECT fa.id FROM civicrm_entity_financial_account efa
              JOIN civicrm_financial_account fa ON fa.id = efa.financial_account_id
              JOIN civicrm_financial_type ft ON ft.id = efa.entity_id
              WHERE efa.entity_table = 'civicrm_financial_type' AND ft.name = 'Donation'
                AND efa.account_relationship = @rel_ar);

-- Financial types: slot 0..3 -> type and its income account.
DROP TEMPORARY TABLE IF EXISTS cs_ft;
CREATE TEMPORARY TABLE cs_ft (slot INT PRIMARY KEY, ft INT NOT NULL, income INT NOT NULL) ENGINE=InnoDB
SELECT s.slot, ft.id AS ft,
       (SELECT efa.financial_account_id FROM civicrm_entity_financial_account efa
        WHERE efa.entity_table = 'civicrm_financial_type' AND efa.entity_id = ft.id
          AND efa.account_relationship = @rel_income) AS income
FROM (SELECT 0 AS slot, 'Donation' AS name UNION ALL SELECT 1, 'Donation'
      UNION ALL SELECT 2, 'Campaign Contribution' UNION ALL SELECT 3, 'Member Dues') s
JOIN civicrm_financial_type ft ON ft.name = s.name;

-- Payment instruments: slot 0..4 -> value and its asset account.
DROP TEMPORARY TABLE IF EXISTS cs_pi;
CREATE TEMPORARY TABLE cs_pi (slot INT PRIMARY KEY, pi INT NOT NULL, asset INT NOT NULL) ENGINE=InnoDB
SELECT ROW_NUMBER() OVER (ORDER BY v.value) - 1 AS slot, v.value AS pi,
       (SELECT efa.financial_account_id FROM civicrm_entity_financial_account efa
        WHERE efa.entity_table = 'civicrm_option_value' AND efa.entity_id = v.id
          AND efa.account_relationship = @rel_asset) AS asset
FROM civicrm_option_value v WHERE v.option_group_id = @og_pi AND v.is_active = 1;
SET @npi = (SELECT COUNT(*) FROM cs_pi);

DROP TEMPORARY TABLE IF EXISTS cs_meta_check;
CREATE TEMPORARY TABLE cs_meta_check (seed_metadata_present INT NOT NULL);
INSERT INTO cs_meta_check SELECT IF(@rel_income IS NULL OR @rel_asset IS NULL OR @st_completed IS NULL
  OR @st_pending IS NULL OR @st_in_progress IS NULL OR @fi_paid IS NULL OR @fi_unpaid IS NULL
  OR @pf IS NULL OR @pfv IS NULL OR @fa_ar IS NULL OR @npi < 1
  OR (SELECT COUNT(*) FROM cs_ft) <> 4, NULL, 1);
DROP TEMPORARY TABLE cs_meta_check;

-- ---------------------------------------------------------------------------------------
-- Contacts (id = i + 1) and one primary email each.
INSERT INTO civicrm_contact (id, contact_type, first_name, last_name, sort_name, display_name,
  email_greeting_display, source, is_deleted, created_date, modified_date)
SELECT seq + 1, 'Individual', ELT(1 + seq % 10, 'Mary', 'James', 'Aisha', 'Wei', 'Sofia', 'Omar',
    'Ingrid', 'Kenji', 'Priya', 'Lucas'),
  CONCAT('Donor', seq),
  CONCAT('Donor', seq, ', ', ELT(1 + seq % 10, 'Mary', 'James', 'Aisha', 'Wei', 'Sofia', 'Omar',
    'Ingrid', 'Kenji', 'Priya', 'Lucas')),
  CONCAT(ELT(1 + seq % 10, 'Mary', 'James', 'Aisha', 'Wei', 'Sofia', 'Omar', 'Ingrid', 'Kenji',
    'Priya', 'Lucas'), ' Donor', seq),
  CONCAT('Dear ', ELT(1 + seq % 10, 'Mary', 'James', 'Aisha', 'Wei', 'Sofia', 'Omar', 'Ingrid',
    'Kenji', 'Priya', 'Lucas')),
  'bench contributions', 0,
  TIMESTAMP('2019-01-01') + INTERVAL seq MINUTE, TIMESTAMP('2019-01-01') + INTERVAL seq MINUTE
FROM seq_1_to_10000000 WHERE seq <= @n;

INSERT INTO civicrm_email (id, contact_id, location_type_id, email, is_primary, is_billing, on_hold)
SELECT seq + 1, seq + 1, 1, CONCAT('donor', seq, '@example.org'), 1, 0, 0
FROM seq_1_to_10000000 WHERE seq <= @n;

-- Recurring contributions: contacts i = 20, 40, ... (id = i / 20), monthly, in progress.
INSERT INTO civicrm_contribution_recur (id, contact_id, amount, currency, frequency_unit,
  frequency_interval, installments, start_date, create_date, modified_date, trxn_id, invoice_id,
  contribution_status_id, is_test, cycle_day, next_sched_contribution_date, failure_count,
  auto_renew, financial_type_id, payment_instrument_id, is_email_receipt)
SELECT seq / 20, seq + 1, 10 + (seq * 13) % 40, 'USD', 'month', 1, NULL,
  TIMESTAMP('2022-01-01') + INTERVAL (seq % 28) DAY, TIMESTAMP('2022-01-01') + INTERVAL (seq % 28) DAY,
  TIMESTAMP('2022-03-01') + INTERVAL (seq % 28) DAY, CONCAT('RECUR-', seq / 20),
  MD5(CONCAT('civisync-bench-recur-', seq)), @st_in_progress, 0, 1 + seq % 28,
  TIMESTAMP('2022-04-01') + INTERVAL (seq % 28) DAY, 0, 0,
  (SELECT ft FROM cs_ft WHERE slot = 0), (SELECT pi FROM cs_pi WHERE slot = 0), 1
FROM seq_1_to_10000000 WHERE seq <= @n AND seq % 20 = 0;

-- Per-contribution attributes (c = 1 .. 3n; contact i = (c - 1) DIV 3 + 1).
DROP TEMPORARY TABLE IF EXISTS cs_k;
CREATE TEMPORARY TABLE cs_k (PRIMARY KEY (c)) ENGINE=InnoDB
SELECT c, (c - 1) DIV 3 + 1 AS i, (c - 1) DIV 3 + 2 AS contact_id,
       c % 4 AS ft_slot, c % @npi AS pi_slot,
       ((c - 1) DIV 3 + 1) % 20 = 0 AS is_recur, c % 50 = 7 AS is_pending,
       CAST(5 + (c * 7919) % 49500 / 100 AS DECIMAL(20,2)) AS amount,
       TIMESTAMP('2020-01-01') + INTERVAL ((c * 37) % 1800) DAY + INTERVAL ((c * 7) % 86400) SECOND AS rdate
FROM (SELECT CAST(seq AS SIGNED) AS c FROM seq_1_to_30000000 WHERE seq <= 3 * @n) s;

INSERT INTO civicrm_contribution (id, contact_id, financial_type_id, payment_instrument_id,
  receive_date, non_deductible_amount, total_amount, fee_amount, net_amount, trxn_id, invoice_id,
  currency, receipt_date, source, amount_level, contribution_recur_id, is_test, is_pay_later,
  contribution_status_id, check_number, tax_amount, is_template)
SELECT k.c, k.contact_id, ft.ft, IF(k.is_pending, NULL, pi.pi), k.rdate, 0.00, k.amount, 0.00,
  k.amount, IF(k.is_pending, NULL, CONCAT('TRXN-', k.c)), MD5(CONCAT('civisync-bench-contribution-', k.c)),
  'USD', IF(k.is_pending, NULL, k.rdate + INTERVAL 1 HOUR),
  IF(k.is_recur, 'Recurring contribution', ELT(1 + k.c % 3, 'Online Contribution: Donate now',
     'Back office', 'Year-end appeal')),
  NULL, IF(k.is_recur, k.i / 20, NULL), 0, k.is_pending,
  IF(k.is_pending, @st_pending, @st_completed),
  IF(NOT k.is_pending AND pi.slot = 3, CONCAT('CHK', 100000 + k.c), NULL), NULL, 0
FROM cs_k k JOIN cs_ft ft ON ft.slot = k.ft_slot JOIN cs_pi pi ON pi.slot = k.pi_slot;

INSERT INTO civicrm_line_item (id, entity_table, entity_id, contribution_id, price_field_id, label,
  qty, unit_price, line_total, participant_count, price_field_value_id, financial_type_id,
  non_deductible_amount, tax_amount)
SELECT k.c, 'civicrm_contribution', k.c, k.c, @pf, 'Contribution Amount', 1.00, k.amount, k.amount,
  0, @pfv, ft.ft, 0.00, NULL
FROM cs_k k JOIN cs_ft ft ON ft.slot = k.ft_slot;

INSERT INTO civicrm_financial_trxn (id, from_financial_account_id, to_financial_account_id,
  trxn_date, total_amount, fee_amount, net_amount, currency, is_payment, trxn_id, status_id,
  payment_instrument_id, check_number)
SELECT k.c, NULL, IF(k.is_pending, @fa_ar, pi.asset), k.rdate, k.amount, 0.00, k.amount, 'USD',
  NOT k.is_pending, IF(k.is_pending, NULL, CONCAT('TRXN-', k.c)),
  IF(k.is_pending, @st_pending, @st_completed), IF(k.is_pending, NULL, pi.pi),
  IF(NOT k.is_pending AND pi.slot = 3, CONCAT('CHK', 100000 + k.c), NULL)
FROM cs_k k JOIN cs_pi pi ON pi.slot = k.pi_slot;

INSERT INTO civicrm_financial_item (id, created_date, transaction_date, contact_id, description,
  amount, currency, financial_account_id, status_id, entity_table, entity_id)
SELECT k.c, k.rdate, k.rdate, k.contact_id, 'Contribution Amount', k.amount, 'USD', ft.income,
  IF(k.is_pending, @fi_unpaid, @fi_paid), 'civicrm_line_item', k.c
FROM cs_k k JOIN cs_ft ft ON ft.slot = k.ft_slot;

INSERT INTO civicrm_entity_financial_trxn (id, entity_table, entity_id, financial_trxn_id, amount)
SELECT 2 * k.c - 1, 'civicrm_contribution', k.c, k.c, k.amount FROM cs_k k
UNION ALL
SELECT 2 * k.c, 'civicrm_financial_item', k.c, k.c, k.amount FROM cs_k k;

-- Soft credits: every 10th contribution, to the contact 7 places on (wrapping), cycling
-- through 'in_honor_of', 'in_memory_of', 'solicited'.
INSERT INTO civicrm_contribution_soft (id, contribution_id, contact_id, amount, currency,
  pcp_id, pcp_display_in_roll, soft_credit_type_id)
SELECT k.c / 10, k.c, 2 + (k.i - 1 + 7) % @n, k.amount, 'USD', NULL, 0,
  (SELECT v.value FROM civicrm_option_value v JOIN civicrm_option_group g ON g.id = v.option_group_id
   WHERE g.name = 'soft_credit_type' AND v.name = ELT(1 + (k.c / 10) % 3, 'in_honor_of', 'in_memory_of', 'solicited'))
FROM cs_k k WHERE k.c % 10 = 0;

DROP TEMPORARY TABLE cs_k;
DROP TEMPORARY TABLE cs_ft;
DROP TEMPORARY TABLE cs_pi;
