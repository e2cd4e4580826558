-- CASE imports (issue 18): the request parameters that stand in for a CSV's columns on every
-- outcome of the package (ratings, mastery_points, calculation_method, calculation_int), as a
-- JSON object; NULL for imports that gave none (every Outcomes CSV import).
ALTER TABLE outcome_imports ADD COLUMN options json;
